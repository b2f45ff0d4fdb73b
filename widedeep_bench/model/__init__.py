"""The Wide & Deep model itself: its weights (also read from an ONNX graph, ``onnx_weights``), a NumPy
forward pass, and the TF1 SavedModel writer."""
