"""Greetings for the demo: a function that only this file defines."""


def greet_user(name):
    """Return a friendly greeting."""
    return f"Hello, {name}!"
