// Placeholder: the SDK's entry point (replaced by the SDK itself).
