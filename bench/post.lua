-- wrk: POST the AdmissionReview in bench/review.json to /mutate.
local file = io.open(os.getenv("WG_BODY_FILE"), "rb")
wrk.method = "POST"
wrk.body = file:read("*a")
wrk.headers["Content-Type"] = "application/json"
file:close()
