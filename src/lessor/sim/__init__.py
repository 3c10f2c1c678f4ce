"""The policy simulator: replays a ticket trace against the real planner (`lessor simulate`)."""
