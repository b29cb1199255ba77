"""One router per noun the API serves."""
