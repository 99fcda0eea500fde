"""Board files: a pin map and a medium, each building a FrameServer with make_server()."""
