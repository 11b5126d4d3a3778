"""ZIP archives: the streaming writer, the random-access reader and end-to-end verification."""
