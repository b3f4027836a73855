"""Backend-neutral conversations and the model prompt profiles that produce them."""
