"""Export to ExecuTorch (.pte), LiteRT (.tflite) and Core ML (.mlpackage), and runners for each (issue 5).
Nothing here yet."""
