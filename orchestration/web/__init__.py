"""Shared web/UI helpers every app may import; imports no app of the project."""
