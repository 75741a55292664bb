"""Quality data and training: the corpus (sources, build, manifest files), the tokenizer, the
training loop, held-out evaluation and the synthetic capability tasks."""
