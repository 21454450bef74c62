"""The demo night: an interface that runs every part of september on a simulated night."""
