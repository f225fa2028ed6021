import greetings

message = greetings.
print(message)
