"""Tests that start no server or process: the rules, the engine, the actions, the data."""
