"""The diarization dev set (``devset``) and its numpy replay for calibration (``simulate``)."""
