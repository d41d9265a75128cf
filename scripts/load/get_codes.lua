-- wrk: GET /codes, ten of one random device's codes (env ACCESS, DEVICES).
local token = os.getenv("ACCESS")
local devices = tonumber(os.getenv("DEVICES") or "1000")
wrk.headers["Authorization"] = "Bearer " .. token

request = function()
  return wrk.format("GET", string.format("/codes?serialNum=L%04d&limit=10", math.random(0, devices - 1)))
end
