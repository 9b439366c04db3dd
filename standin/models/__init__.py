"""Model engines: the embedding network (onnxruntime) and the chat model (llama.cpp)."""
