"""The command line face: argument parsing, commands, and the one printer seam."""
