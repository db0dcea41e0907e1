-- The champion alias serves production traffic: no agent may remove it or
-- point it elsewhere. Other aliases (challenger, staging...) are the agents' to manage.
return {
  on_call = function(call)
    if call.args.alias ~= "champion" then
      return nil
    end
    if call.tool == "delete_model_alias" then
      return warden.deny("the champion alias is protected: ask a person to retire a champion")
    end
    if call.tool == "set_model_alias" then
      return warden.require_approval("moving the champion alias needs a person's approval")
    end
  end,
}
