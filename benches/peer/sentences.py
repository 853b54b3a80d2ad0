"""100 test sentences in French, English, Spanish and German: customer-service requests and
unrelated chatter, short and long, with accents, digits and punctuation."""
SENTENCES = [
    # fr
    "où est mon colis ?", "Je n'ai toujours pas reçu ma commande n° 48213.", "bonjour", "merci beaucoup !",
    "Je voudrais être remboursé de mes chaussures.", "Vous êtes ouverts le dimanche ?",
    "j'arrive pas à me connecter à mon compte", "Pouvez-vous m'envoyer la facture de ma commande du 3 mars ?",
    "c'est la troisième fois que je vous écris, c'est inadmissible !!!", "je veux parler à un conseiller",
    "Le code promo BIENVENUE10 ne fonctionne pas.", "Mon canapé est arrivé avec un pied cassé.",
    "Est-ce que le casque audio est disponible en noir ?", "annulez ma commande svp",
    "Je souhaite prendre rendez-vous mardi prochain à 14h30.", "Quel temps fera-t-il demain à Lyon ?",
    "Mon adresse de livraison a changé, je suis maintenant au 12 rue de la Paix.",
    "Combien coûte la livraison en Belgique ?", "Êtes-vous un robot ?", "au revoir et bonne journée",
    "oui", "non merci", "Ma carte bancaire a été débitée deux fois pour la même commande.",
    "J'aimerais un devis pour 30 chaises de bureau.", "Il manque un article dans mon colis.",
    # en
    "where is my parcel?", "I still haven't received order #99120.", "hello there", "thanks a lot!",
    "I would like a refund for these shoes.", "Are you open on Sundays?", "I can't log into my account",
    "Could you send me the invoice for my March 3rd order?", "This is the third time I've written, unacceptable!!!",
    "I want to talk to a human", "The discount code WELCOME10 doesn't work.", "My sofa arrived with a broken leg.",
    "Is the headset available in black?", "please cancel my order", "I'd like to book an appointment next Tuesday at 2:30 pm.",
    "What's the weather like in London tomorrow?", "I moved, please ship to 221B Baker Street instead.",
    "How much is shipping to Canada?", "Am I talking to a bot?", "goodbye, have a nice day", "yes", "no thanks",
    "I was charged twice for the same order.", "Can I get a quote for 30 office chairs?", "An item is missing from my box.",
    # es
    "¿dónde está mi paquete?", "Todavía no he recibido mi pedido n.º 48213.", "hola", "¡muchas gracias!",
    "Quiero que me devuelvan el dinero de estos zapatos.", "¿Abren los domingos?", "no puedo entrar en mi cuenta",
    "¿Me pueden enviar la factura de mi pedido del 3 de marzo?", "¡Es la tercera vez que escribo, es inaceptable!",
    "quiero hablar con una persona", "El código de descuento BIENVENIDO10 no funciona.",
    "Mi sofá llegó con una pata rota.", "¿Tienen los auriculares en negro?", "cancelen mi pedido por favor",
    "Quisiera pedir una cita el próximo martes a las 14:30.", "¿Qué tiempo hará mañana en Madrid?",
    "Me he mudado, envíenlo a la calle Mayor 5.", "¿Cuánto cuesta el envío a México?", "¿Eres un robot?",
    "adiós y buen día", "sí", "no, gracias", "Me cobraron dos veces el mismo pedido.",
    "¿Me pueden hacer un presupuesto para 30 sillas de oficina?", "Falta un artículo en mi paquete.",
    # de
    "Wo ist mein Paket?", "Ich habe meine Bestellung Nr. 48213 immer noch nicht erhalten.", "Hallo", "Vielen Dank!",
    "Ich möchte mein Geld für diese Schuhe zurück.", "Haben Sie sonntags geöffnet?",
    "Ich kann mich nicht in mein Konto einloggen", "Können Sie mir die Rechnung für meine Bestellung vom 3. März schicken?",
    "Das ist das dritte Mal, dass ich schreibe, unverschämt!!!", "Ich möchte mit einem Menschen sprechen",
    "Der Rabattcode WILLKOMMEN10 funktioniert nicht.", "Mein Sofa kam mit einem gebrochenen Bein an.",
    "Gibt es die Kopfhörer auch in Schwarz?", "Bitte stornieren Sie meine Bestellung",
    "Ich möchte einen Termin nächsten Dienstag um 14:30 Uhr.", "Wie wird das Wetter morgen in Berlin?",
    "Ich bin umgezogen, bitte liefern Sie an die Hauptstraße 5.", "Was kostet der Versand nach Österreich?",
    "Bist du ein Bot?", "Tschüss und schönen Tag", "ja", "nein danke",
    "Mir wurde dieselbe Bestellung zweimal abgebucht.", "Kann ich ein Angebot für 30 Bürostühle bekommen?",
    "In meinem Paket fehlt ein Artikel.",
]
assert len(SENTENCES) == 100, len(SENTENCES)
