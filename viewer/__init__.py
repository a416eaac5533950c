"""Fragment: end-to-end encrypted photo album links."""
