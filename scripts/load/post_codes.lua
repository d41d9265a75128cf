-- wrk: POST /codes for a random one of DEVICES devices (env ACCESS, DEVICES).
local token = os.getenv("ACCESS")
local devices = tonumber(os.getenv("DEVICES") or "1000")
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"

request = function()
  local body = string.format('{"serialNum": "L%04d", "codeType": "add_time", "arg": 1}', math.random(0, devices - 1))
  return wrk.format(nil, "/codes", nil, body)
end
