pytest_plugins = ["hil.plugin"]
