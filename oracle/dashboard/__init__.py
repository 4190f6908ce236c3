"""The dashboard: one static page (plain HTML/JS/CSS, charts drawn as inline SVG, no build step) served
by the FastAPI app at /dashboard, and the JSON snapshot it polls (`oracle.dashboard.data`)."""
