"""Clarifai's gRPC API (`clarifai.api.V2`), so the official `clarifai` SDK works unchanged."""
