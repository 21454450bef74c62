"""KStars/Ekos file formats: scheduler lists (.esl) and capture sequence queues (.esq)."""
