-- wrk script of `npm run bench:real`: POST a body of os.getenv("BODY_BYTES")
-- bytes (JSON for the Express row when BODY_JSON=1) to the URL's path.
local n = tonumber(os.getenv("BODY_BYTES") or "16384")
wrk.method = "POST"
if os.getenv("BODY_JSON") == "1" then
  wrk.body = '{"name":"widget","price":12.5,"tags":["a","b","c"],"pad":"' .. string.rep("p", n) .. '"}'
  wrk.headers["Content-Type"] = "application/json"
else
  wrk.body = string.rep("b", n)
  wrk.headers["Content-Type"] = "application/octet-stream"
end
