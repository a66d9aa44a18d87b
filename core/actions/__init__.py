"""What the routes call: one module per use case (couple, sync, uncouple, ribbon, mappings, errors view,
connection, subscriptions, notifications). A use case uses sync/ and rules/, never a sibling use case."""
