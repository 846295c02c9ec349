"""Flows: pure functions of (params, inputs, previous state, now) returning a plan."""
