"""Off-site destinations: local directories and rclone remotes, and what is stored there."""
