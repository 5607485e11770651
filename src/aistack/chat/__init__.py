"""Chat and completions: plain, with the `rag` extension, or a registered `pipeline@alias`."""
