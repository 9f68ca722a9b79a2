"""`skctl xray`'s library: a trace's summary, its activity timeline and the terminal browser."""
