"""The seed blog post's two toy servers (constant text, no inference), kept to replicate its numbers."""
