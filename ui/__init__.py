"""Browser UI (Gradio): not built yet — see issue 4. Kept so the package layout is fixed."""
