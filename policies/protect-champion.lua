-- The champion model alias serves production traffic: agents may move other
-- aliases but never delete that one.
return {
  on_call = function(call)
    if call.tool == "delete_model_alias" then
      if call.args.alias == "champion" then
        return warden.deny("the champion alias is protected")
      end
      return warden.allow()
    end
    if call.tool == "set_model_alias" and call.args.alias == "champion" then
      return warden.require_approval("moving the champion alias needs a person's approval")
    end
  end,
}
