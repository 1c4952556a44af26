"""Fixed routed experts and INT8 quantization-aware training (issue 4). Nothing here yet."""
