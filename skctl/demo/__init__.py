"""`skctl demo`: the whole loop on two in-process sandboxes (pipeline) and the recorded-vs-replayed
comparison it ends with."""
