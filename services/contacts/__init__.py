"""The contacts service: owns clients."""
