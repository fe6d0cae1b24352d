"""The app's edge: each tab's logic without Gradio (the desks), the HTML renderers, one
browser's chat state, uploads, the login and network settings, and the page's static
files. Nothing below (the answering core, study, training, eval) imports this room."""
