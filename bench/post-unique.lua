-- wrk: POST the AdmissionReview with a different annotation value each time, so no two pods are alike
-- (every request misses workerguard's plan memo: the worst case, a cluster of one-off pods).
local file = io.open(os.getenv("WG_BODY_FILE"), "rb")
local template = file:read("*a")
file:close()
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, (template:gsub("__NONCE__", tostring(counter))))
end
