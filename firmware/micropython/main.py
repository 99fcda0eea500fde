"""Device entry point. Deploy the phyllfw package, one board file copied as board.py, and this."""
import board  # pyright: ignore[reportMissingImports]

board.main()
