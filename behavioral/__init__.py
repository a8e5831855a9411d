"""Behavioral layer: versioned device cards fitted from characterization data, and
differentiable PyTorch primitives built from them."""
