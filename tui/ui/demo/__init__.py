"""Made-up Portals and restores for screenshots, snapshot tests and layout checks."""
