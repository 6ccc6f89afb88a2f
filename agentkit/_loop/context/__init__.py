"""Keeping a run inside the model's context window: the policies (`policies`), the pure
history transforms (`transforms`), the server features' wire shapes (`server`) and the
engine's helper that decides when to use them (`manager`)."""
