-- wrk: POST the AdmissionReview in $WG_BODY_FILE to /mutate, with every "__N__" in it replaced by a
-- request counter. The replicas body numbers only the uid, as a ReplicaSet's pods differ; the unique
-- body also numbers an annotation planning never reads; the statefulset body numbers the name, the
-- hostname and the pod-name and pod-index labels; the distinct body numbers an env value, so no two
-- specs are alike and every pod is planned from scratch.
local file = io.open(os.getenv("WG_BODY_FILE"), "rb")
local template = file:read("*a")
file:close()
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, (template:gsub("__N__", tostring(counter))))
end
