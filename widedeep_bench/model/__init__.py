"""The Wide & Deep model itself: its weights, a NumPy forward pass, and the TF1 SavedModel writer."""
