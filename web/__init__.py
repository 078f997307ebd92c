"""The web page and its HTTP API: a presigned upload, the styles, and each upload's progress (README, "Web page")."""
