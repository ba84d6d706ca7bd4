"""Pre-recorded (batch) transcription: a whole file through the main model, stored as a session."""
