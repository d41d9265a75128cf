-- wrk: POST /auth, each request with its own auth token from TOKENS (a file
-- of one token per line): the platform accepts each token id once.
local threads = {}
local counter = 1

setup = function(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

init = function(args)
  tokens = {}
  for line in io.lines(os.getenv("TOKENS")) do
    tokens[#tokens + 1] = line
  end
  stride = tonumber(os.getenv("THREADS") or "2")
  counter = id + 1
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

request = function()
  local token = tokens[counter]
  counter = counter + stride
  if counter > #tokens then counter = id + 1 end
  return wrk.format(nil, "/auth", nil, '{"token": "' .. token .. '", "tokenType": "auth"}')
end
