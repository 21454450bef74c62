"""Long-running interfaces: the watch daemon that follows the capture share."""
