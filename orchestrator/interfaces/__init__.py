"""Ways in: the command line, the server, the SDK and the embedded farm. The top floor: may import anything below, nothing imports it."""
