"""Azure Functions triggers: one blueprint per concern. Triggers parse, call core, render."""
