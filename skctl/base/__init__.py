"""The base every layer stands on: errors and messages, user-typed numbers, times and durations,
progress callbacks, signals and log levels. It imports nothing else from skctl."""
